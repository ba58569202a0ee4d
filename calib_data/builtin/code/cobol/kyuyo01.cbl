      * 給与計算バッチ KYUYO01
      * 社員ファイルを読み、支給額と控除額から差引支給額を求めて
      * 給与明細ファイルへ出力する。料率は説明用の仮の値。
       IDENTIFICATION DIVISION.
       PROGRAM-ID. KYUYO01.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT EMP-FILE ASSIGN TO "EMPIN"
               ORGANIZATION IS LINE SEQUENTIAL
               FILE STATUS IS WS-EMP-STATUS.
           SELECT PAY-FILE ASSIGN TO "PAYOUT"
               ORGANIZATION IS LINE SEQUENTIAL.
       DATA DIVISION.
       FILE SECTION.
       FD  EMP-FILE.
       01  EMP-REC.
           05  EMP-ID          PIC X(6).
           05  EMP-BASE-PAY    PIC 9(7).
           05  EMP-OT-HOURS    PIC 9(3)V9.
           05  EMP-DEPENDENTS  PIC 9.
       FD  PAY-FILE.
       01  PAY-REC             PIC X(40).
       WORKING-STORAGE SECTION.
       01  WS-EMP-STATUS       PIC XX.
       01  WS-EOF-FLAG         PIC X      VALUE "N".
           88  END-OF-EMP                 VALUE "Y".
      * 計算用の作業項目
       01  WS-CALC.
           05  WS-HOURLY       PIC 9(5)V99.
           05  WS-OT-PAY       PIC 9(7).
           05  WS-GROSS        PIC 9(8).
           05  WS-SOCIAL       PIC 9(7).
           05  WS-TAX          PIC 9(7).
           05  WS-TAXABLE      PIC S9(8).
           05  WS-NET          PIC S9(8).
       01  WS-RATES.
           05  RT-OT-FACTOR    PIC 9V99   VALUE 1.25.
           05  RT-SOCIAL       PIC V9999  VALUE .1415.
           05  MONTHLY-HOURS   PIC 9(3)   VALUE 160.
           05  DEPENDENT-ALLOW PIC 9(5)   VALUE 30000.
       01  WS-READ-CNT         PIC 9(5)   VALUE ZERO.
      * 明細行：社員番号、支給額、差引支給額
       01  WS-DETAIL.
           05  DT-ID           PIC X(6).
           05  FILLER          PIC X(2)   VALUE SPACES.
           05  DT-GROSS        PIC ZZ,ZZZ,ZZ9.
           05  FILLER          PIC X(2)   VALUE SPACES.
           05  DT-NET          PIC -ZZ,ZZZ,ZZ9.

       PROCEDURE DIVISION.
       MAIN-PARA.
           OPEN INPUT EMP-FILE
           IF WS-EMP-STATUS NOT = "00"
               DISPLAY "EMPIN OPEN ERROR: " WS-EMP-STATUS
               STOP RUN
           END-IF
           OPEN OUTPUT PAY-FILE
           PERFORM READ-EMP
           PERFORM PROCESS-PARA UNTIL END-OF-EMP
           CLOSE EMP-FILE PAY-FILE
           DISPLAY "KYUYO01 READ: " WS-READ-CNT
           STOP RUN.

       READ-EMP.
           READ EMP-FILE
               AT END SET END-OF-EMP TO TRUE
               NOT AT END ADD 1 TO WS-READ-CNT
           END-READ.

      * 残業手当 = 時間単価 × 1.25 × 残業時間（円未満四捨五入）
       PROCESS-PARA.
           COMPUTE WS-HOURLY ROUNDED = EMP-BASE-PAY / MONTHLY-HOURS
           COMPUTE WS-OT-PAY ROUNDED =
               WS-HOURLY * RT-OT-FACTOR * EMP-OT-HOURS
           COMPUTE WS-GROSS = EMP-BASE-PAY + WS-OT-PAY
           PERFORM CALC-TAX
           MOVE EMP-ID   TO DT-ID
           MOVE WS-GROSS TO DT-GROSS
           MOVE WS-NET   TO DT-NET
           WRITE PAY-REC FROM WS-DETAIL
           PERFORM READ-EMP.

      * 社会保険料と扶養控除を引いた額に簡易の税率表を当てる
       CALC-TAX.
           COMPUTE WS-SOCIAL ROUNDED = WS-GROSS * RT-SOCIAL
           COMPUTE WS-TAXABLE = WS-GROSS - WS-SOCIAL
               - EMP-DEPENDENTS * DEPENDENT-ALLOW
           EVALUATE TRUE
               WHEN WS-TAXABLE <= 0
                   MOVE ZERO TO WS-TAX
               WHEN WS-TAXABLE < 200000
                   COMPUTE WS-TAX ROUNDED = WS-TAXABLE * 0.03
               WHEN OTHER
                   COMPUTE WS-TAX ROUNDED = WS-TAXABLE * 0.08
           END-EVALUATE
           COMPUTE WS-NET = WS-GROSS - WS-SOCIAL - WS-TAX.
